"""The provider node adapter: what a hospital installs (`pip install .[node]`).

It takes DICOM images from a folder, an Orthanc server or a modality (a DICOM storage
SCP), de-identifies them irreversibly at the site, lays them out in the site's data lake,
describes each dataset with aggregated metadata only, and publishes that description to
the hub. It imports no Django app: the hub's dependencies are not installed at a site.
"""

import logging
import warnings


def _keep_libraries_quiet() -> None:
    """Libraries quote values in their warnings and debug lines: pydicom an invalid UID or
    date it read (an original identifier), urllib3 a retried URL (DICOMweb paths hold
    original UIDs). Nothing of the sort may reach a log at the site, so pydicom does not
    validate what it reads (de-identification replaces those values anyway) and both keep
    to errors, which carry no values."""
    import pydicom.config

    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    for name in ("pydicom", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)


_keep_libraries_quiet()
