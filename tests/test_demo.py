"""`python -m pydl demo` reaches the course's accuracy on the embedded data sets."""
import re
import subprocess
import sys


def test_demo_trains_both_data_sets(tmp_path):
    # run outside the source tree, so that the installed pydl is the one imported
    out = subprocess.run([sys.executable, "-m", "pydl", "demo"], capture_output=True,
                         text=True, timeout=300, check=True, cwd=tmp_path).stdout
    accuracies = [float(a) for a in re.findall(r"accuracy: (\d+\.\d)%", out)]
    assert len(accuracies) == 2, out
    flower, digits = accuracies
    assert flower >= 88.0, out
    assert digits >= 95.0, out
    costs = [float(c) for c in re.findall(r"cost after iteration\s+\d+: ([\d.]+)", out)]
    assert len(costs) == 10 and costs[-1] < costs[0], out
