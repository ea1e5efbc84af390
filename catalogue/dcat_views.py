from django.http import HttpResponse


def dcat_catalogue(request):
    return HttpResponse("dcat")


def dcat_dataset(request, pk, ext):
    return HttpResponse("dcat")
