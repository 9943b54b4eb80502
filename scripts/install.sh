#!/usr/bin/env bash
# Install everything the benchmark needs: the Python packages (pip), and on Debian or Ubuntu the offline
# Fashion-MNIST data set (apt). Without apt (macOS, Fedora, conda, a container without root) pip alone is
# enough: Fashion-MNIST is downloaded once on first use (torchvision's mirror, md5-checked), and the optional
# extras (Chromium for the page's browser test, Slurm for the cluster test) are skipped, their tests saying why.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; fi
APT=""
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = "0" ] || [ -n "$SUDO" ]; }; then APT=yes; fi
if [ -z "$APT" ]; then
    echo "no apt (or no root): Fashion-MNIST will be downloaded on first use; Chromium and Slurm are skipped"
fi
if [ -n "$APT" ] && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    ($SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist) || \
        echo "dataset-fashion-mnist not installed: Fashion-MNIST will be downloaded on first use"
fi
# Chromium for the leaderboard page's browser test (tests/test_html_report.py); the test is skipped
# with its reason where the package cannot be installed
if [ -n "$APT" ] && ! command -v chromium >/dev/null 2>&1; then
    ($SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || { $SUDO apt-get update -qq && \
        $SUDO apt-get install -y -qq chromium >/dev/null 2>&1; }) || echo "chromium not installed: the browser test will be skipped"
fi
# a one-node Slurm (munge, slurmctld, slurmd) for the study executor's test against a real cluster
# (tests/test_studies.py starts it); the test is skipped with its reason where these cannot be installed
if [ -n "$APT" ] && ! command -v slurmctld >/dev/null 2>&1; then
    ($SUDO apt-get install -y -qq slurmctld slurmd munge >/dev/null 2>&1 || { $SUDO apt-get update -qq && \
        $SUDO apt-get install -y -qq slurmctld slurmd munge >/dev/null 2>&1; }) || echo "slurm not installed: the Slurm test will be skipped"
fi
PY=${PYTHON:-python3}
# torch first, pinned to the release the project is tested with (a local wheel on the dev machines)
$PY -m pip install -q torch==2.14.1 torchvision==0.29.1
# the test extra, and the source providers' packages (RobustBench, timm, the Hugging Face Hub) that
# tests/test_sources.py loads from files laid out offline, and imagecorruptions for the corruption protocols
$PY -m pip install -q -e ".[test,sources,corruptions]"
