import os
import shutil
import subprocess
import tempfile

from appliance.settings import ROOT


def test_a_non_root_user_is_told_which_debian_packages_to_install():
    # A dpkg-query that knows no package stands in for a machine that lacks them all; the folder must be
    # readable by the unprivileged user the script runs as.
    public = tempfile.mkdtemp()
    try:
        os.chmod(public, 0o755)
        fake = os.path.join(public, "dpkg-query")
        with open(fake, "w") as script:
            script.write("#!/bin/sh\nexit 1\n")
        os.chmod(fake, 0o755)
        env = {"PATH": f"{public}:{os.environ['PATH']}", "HOME": public}
        # The script runs from a copy the user can read: a checkout under /root (mode 700 on Debian) is not.
        os.makedirs(os.path.join(public, "scripts"))
        command = [shutil.copy(ROOT / "scripts" / "setup", os.path.join(public, "scripts", "setup"))]
        if os.getuid() == 0:
            command = [shutil.which("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"] + command
        result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=public)
    finally:
        shutil.rmtree(public)
    assert result.returncode == 1, result.stderr
    for words in ("espeak-ng", "build-essential", "apt-get install", "as root"):
        assert words in result.stderr
    assert "creating" not in result.stdout
