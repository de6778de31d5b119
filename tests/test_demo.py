"""`python -m pydl demo` reaches the course's accuracy on the embedded data sets."""
import os
import re
import subprocess
import sys

import pytest

# the console script `pydl` installed next to this interpreter (the README's quickstart)
SCRIPT = os.path.join(os.path.dirname(sys.executable),
                      "pydl.exe" if sys.platform == "win32" else "pydl")


@pytest.mark.parametrize("command", [[sys.executable, "-m", "pydl", "demo"], [SCRIPT, "demo"]],
                         ids=["python -m pydl", "pydl script"])
def test_demo_trains_both_data_sets(tmp_path, command):
    if not os.path.exists(command[0]):
        pytest.skip("the pydl console script is not installed next to this interpreter")
    # run outside the source tree, so that the installed pydl is the one imported
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True,
                         cwd=tmp_path).stdout
    accuracies = [float(a) for a in re.findall(r"accuracy: (\d+\.\d)%", out)]
    assert len(accuracies) == 2, out
    flower, digits = accuracies
    assert flower >= 88.0, out
    assert digits >= 95.0, out
    costs = [float(c) for c in re.findall(r"cost after iteration\s+\d+: ([\d.]+)", out)]
    assert len(costs) == 10 and costs[-1] < costs[0], out
