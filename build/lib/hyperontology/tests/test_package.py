"""The common model is plain Python: the node adapter uses it without the hub."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_model_loads_no_django_and_needs_no_settings():
    code = (
        "import sys, hyperontology;"
        "from hyperontology import normalise, validate, miabis_to_dcat;"
        "g = normalise(miabis_to_dcat({'id': 'c-1', 'name': 'CT lungs', 'description': 'd',"
        " 'numberOfSubjects': 3, 'numberOfStudies': 4, 'accessRights': 'RESTRICTED',"
        " 'biobank': 'b-1', 'contact': {'email': 'x@y.example'}}));"
        "print(validate(g).verdicts[0].accepted, 'django' in sys.modules)"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]
