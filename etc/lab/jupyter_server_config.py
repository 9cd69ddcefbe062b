"""The learner's JupyterLab (`make lab` puts etc/lab/ first on JUPYTER_CONFIG_PATH, for that
launch only; etc/lab/labconfig and jupyter_server_config.d leave nbgrader out).

After JupyterLab saves a notebook that git tracks, :func:`refresh_git_index` lets `git status`
agree with `git diff`. The nbstripout filter that `make` installs hides a notebook's outputs
from git (`git diff` shows nothing), but git takes a file whose size changed for modified
without reading it, so `git status` would list every notebook the learner ran. When git sees
no change in the saved notebook, `git add` records its new size and time: nothing is staged
(the stored content is the same). A notebook whose text changed stays modified.
"""

import subprocess
import warnings
from pathlib import Path


def refresh_git_index(model, os_path, contents_manager=None, **kwargs):
    """JupyterLab's post-save hook: ``git add`` the notebook at ``os_path`` only when git
    tracks it and ``git diff`` sees no change in it (through the nbstripout filter)."""
    if model.get("type") != "notebook":
        return

    def git(*args):
        try:
            return subprocess.run(["git", *args, "--", os_path], cwd=Path(os_path).parent,
                                  capture_output=True, timeout=60).returncode
        except (OSError, subprocess.TimeoutExpired):
            return -1

    if git("ls-files", "--error-unmatch") == 0 and git("diff", "--quiet") == 0:
        git("add")


c = get_config()  # noqa: F821 (given by Jupyter when it reads this file)
c.FileContentsManager.post_save_hook = refresh_git_index
# JupyterLab applies this file's settings twice; the second time is no override worth a warning
warnings.filterwarnings("ignore",
                        message=r"Overriding existing post_save_hook \(refresh_git_index\)")
