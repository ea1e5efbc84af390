"""The provider node adapter: what a hospital installs (`pip install .[node]`).

It takes DICOM images from a folder, an Orthanc server or a modality (a DICOM storage
SCP), de-identifies them irreversibly at the site, lays them out in the site's data lake,
describes each dataset with aggregated metadata only, and publishes that description to
the hub. It imports no Django app: the hub's dependencies are not installed at a site.
"""
