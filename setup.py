"""One set of packaging files for `pip install .` and `colcon build` (ament_python).

The root package ``t2g_ros`` installs both Python packages (``t2g_core``, ``t2g_ros``), the console
scripts, and the share files (config/, launch/, the shipped checkpoints and sample bag). The message
package ``t2g_msgs`` is a separate ament_cmake package in ``t2g_msgs/``.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "t2g_ros"
SHARE = f"share/{PACKAGE}"


def share_files(folder: str, pattern: str = "*") -> tuple[str, list[str]]:
    return (
        f"{SHARE}/{folder}",
        sorted(p for p in glob(f"{folder}/{pattern}") if not p.endswith("/")),
    )


setup(
    name=PACKAGE,
    version="0.1.0",
    description="Domain-general, flicker-free video semantic segmentation (Time2General) as a ROS 2 node",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["t2g_core", "t2g_core.*", "t2g_ros", "t2g_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (SHARE, ["package.xml"]),
        share_files("launch", "*.launch.py"),
        share_files("config", "*.*"),
        share_files("checkpoints", "*.*"),
        share_files("data/sample", "*.*"),
        share_files("data/sample/solidwhiteright", "*.*"),
    ],
    # ROS dependencies come from package.xml (rosdep) or the ros-* wheels (requirements/lock.txt).
    install_requires=["setuptools", "numpy", "pyyaml"],
    extras_require={"test": ["pytest", "hypothesis"]},
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "t2g_node = t2g_ros.node:main",
            "t2g-train = t2g_core.train:main",
            "t2g-eval = t2g_core.evaluate:main",
            "t2g-export = t2g_core.export:main",
            "t2g-bag-eval = t2g_ros.bags.eval:main",
            "t2g-replay = t2g_ros.bags.replay:main",
            "t2g-record = t2g_ros.bags.record:main",
            "t2g-demo = t2g_ros.demo.run:main",
        ],
    },
)
