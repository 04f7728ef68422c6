"""One set of pins: the image (Dockerfile), CI's CPU venv (install_cpu.sh) and the environment the tests run in
all take their versions from requirements.txt, exactly."""

import importlib.metadata
import os
import re
import unittest

import _path
import cpu_checks as cc

TRAINER = _path.TRAINER_DIR


def read(name: str) -> str:
    with open(os.path.join(TRAINER, name), encoding="utf-8") as f:
        return f.read()


def pins() -> dict[str, str]:
    out = {}
    for line in read("requirements.txt").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][0-9A-Za-z.]*)", line)
            assert m, f"requirements.txt: not an exact pin: {line!r}"
            out[m[1].lower()] = m[2]
    return out


class PinsTest(unittest.TestCase):
    def test_every_requirement_is_an_exact_pin_and_the_stack_is_there(self):
        self.assertTrue({"torch", "transformers", "peft", "accelerate", "trl", "datasets"} <= set(pins()))

    def test_the_image_and_ci_install_from_the_same_file(self):
        docker = read("Dockerfile")
        self.assertIn("pip install -r /app/requirements.txt", docker)
        self.assertIn("s/^torch==", docker)  # torch's CUDA build at requirements.txt's version
        self.assertNotRegex(docker, r"(transformers|peft|trl|datasets|accelerate)==")  # no second set of pins
        install = read("install_cpu.sh")
        self.assertIn('req="$here/requirements.txt"', install)
        self.assertIn("+cpu", install)

    @unittest.skipIf(cc.MISSING, cc.WHY_SKIPPED)
    def test_this_environment_holds_exactly_the_pins(self):
        wrong = {}
        for name, want in pins().items():
            have = importlib.metadata.version(name)
            if have.split("+")[0] != want:
                wrong[name] = (want, have)
        self.assertEqual(wrong, {}, "(pinned, installed): rerun bash trainer/install_cpu.sh")


if __name__ == "__main__":
    unittest.main()
