"""The optional integrations stay optional: `import pydl` imports none of them, and a call
that needs a missing one says which extra to install."""
import subprocess
import sys


def run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_import_pydl_imports_no_optional_integration():
    out = run("import sys, pydl; print(sorted(m for m in ('sklearn', 'matplotlib', 'pandas') "
              "if m in sys.modules))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_pydl_sklearn_without_scikit_learn_says_how_to_install():
    out = run("import sys; sys.modules['sklearn'] = None; import pydl.sklearn")
    assert out.returncode != 0
    assert "ImportError" in out.stderr and 'pip install "pydl[sklearn]"' in out.stderr


def test_demo_plot_without_matplotlib_says_how_to_install(tmp_path):
    out = run("import sys; sys.modules['matplotlib'] = None; from pydl.__main__ import main; "
              f"main(['demo', '--plot', {str(tmp_path)!r}])")
    assert out.returncode != 0
    assert 'pip install "pydl[plot]"' in out.stderr
    assert "cost after" not in out.stdout  # refused before training
