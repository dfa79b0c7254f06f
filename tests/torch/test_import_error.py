"""The core never imports torch; snn_bridge without torch names the extra to install.
Runs with or without torch installed (torch's absence is simulated in a subprocess)."""
import subprocess
import sys


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_core_does_not_import_torch():
    result = _run("import sys, theory, simulate; print('torch' in sys.modules, 'snntorch' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"


def test_torch_init_without_torch_names_the_extra():
    # a finder that refuses torch, as an environment without it would (sys.modules['torch'] = None
    # is not usable: scipy looks torch up in sys.modules)
    result = _run(
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import snn_bridge\n")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and 'pip install ".[torch]"' in result.stderr
