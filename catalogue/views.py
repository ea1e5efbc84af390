from django.http import HttpResponse


def search(request):
    return HttpResponse("search")


dataset_create = dataset_detail = dataset_edit = dataset_transition = search
