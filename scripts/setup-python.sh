#!/usr/bin/env bash
# Installs what the real-client tests need (docs/real-clients.md), idempotently:
# - a Python venv at target/python-venv (override with STREAMSIM_PYTHON_VENV) with pinned kafka-python and
#   confluent-kafka from PyPI (confluent-kafka's manylinux wheel bundles librdkafka: no system library needed);
# - Debian's kcat, with apt-get, when it is missing and the script runs as root.
# Prints the venv's python on its last line. Exits non-zero with a message when something cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

KAFKA_PYTHON_VERSION=3.0.12
CONFLUENT_KAFKA_VERSION=2.16.1

venv=${STREAMSIM_PYTHON_VENV:-target/python-venv}
python=${PYTHON:-python3}

is_root_with_apt() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

apt_updated=
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$apt_updated" ]; then
        apt-get update -qq >&2
        apt_updated=1
    fi
    apt-get install -y -qq "$@" >&2
}

if ! command -v "$python" >/dev/null 2>&1; then
    if is_root_with_apt; then
        echo "setup-python: installing python3 with apt-get" >&2
        apt_install python3 python3-venv
    else
        echo "setup-python: $python not found; install Python 3.8 or later (Debian: sudo apt-get install python3 python3-venv)" >&2
        exit 1
    fi
fi

stamp="$venv/.streamsim-setup-kafka-python-$KAFKA_PYTHON_VERSION-confluent-kafka-$CONFLUENT_KAFKA_VERSION"
if [ ! -f "$stamp" ] || ! "$venv/bin/python" -c 'import kafka, confluent_kafka' >/dev/null 2>&1; then
    if [ ! -x "$venv/bin/python" ]; then
        mkdir -p "$(dirname "$venv")"
        if ! "$python" -m venv "$venv"; then
            rm -rf "$venv"
            if is_root_with_apt; then
                echo "setup-python: installing python3-venv with apt-get" >&2
                apt_install python3-venv
                "$python" -m venv "$venv"
            else
                echo "setup-python: '$python -m venv $venv' failed; on Debian: sudo apt-get install python3-venv" >&2
                exit 1
            fi
        fi
    fi
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
        "kafka-python==$KAFKA_PYTHON_VERSION" "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
    "$venv/bin/python" -c 'import kafka, confluent_kafka' || {
        echo "setup-python: the packages installed but do not import" >&2
        exit 1
    }
    rm -f "$venv"/.streamsim-setup-*
    touch "$stamp"
fi

if ! command -v kcat >/dev/null 2>&1 && ! command -v kafkacat >/dev/null 2>&1; then
    if is_root_with_apt; then
        echo "setup-python: installing kcat with apt-get" >&2
        apt_install kcat
    else
        echo "setup-python: kcat is missing; install it (Debian/Ubuntu: sudo apt-get install kcat); only the kcat test needs it" >&2
    fi
fi

"$venv/bin/python" -c 'import importlib.metadata as m, confluent_kafka; print("setup-python: kafka-python", m.version("kafka-python"), "confluent-kafka", m.version("confluent-kafka"), "librdkafka", confluent_kafka.libversion()[0])' >&2
echo "$(cd "$(dirname "$venv/bin/python")" && pwd)/python"
