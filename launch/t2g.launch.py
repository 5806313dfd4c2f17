"""Launch the t2g segmentation node (and optionally RViz).

    ros2 launch t2g_ros t2g.launch.py image_topic:=/camera/image_raw compressed:=true rviz:=true
    ros2 launch t2g_ros t2g.launch.py namespace:=front   # reads /front/camera/image_raw
    ros2 launch t2g_ros t2g.launch.py backend:=torch device:=cuda   # the GPU path

The default backend is onnxruntime on the CPU: the first start builds the checkpoint's ONNX export
once into the export cache (the log says so) unless the set-up already did.

Tuning lives in the parameter file (config/t2g.yaml by default); this file only wires topics and the
few arguments that differ per deployment.
"""

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("t2g_ros")
    args = [
        DeclareLaunchArgument(
            "namespace", default_value="", description="Namespace of the node and its topics"
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "t2g.yaml"]),
            description="Parameter YAML for the node",
        ),
        # Relative, so two launches differing only in namespace:= read two cameras.
        DeclareLaunchArgument(
            "image_topic",
            default_value="camera/image_raw",
            description="Input image topic, relative to the namespace unless it starts "
            "with / (the compressed input uses <image_topic>/compressed)",
        ),
        DeclareLaunchArgument(
            "compressed",
            default_value="false",
            description="Subscribe to sensor_msgs/CompressedImage instead of Image",
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", description="Use /clock (bag replay)"
        ),
        # Given to the node after params_file, so these two win over the file's model.backend/device.
        DeclareLaunchArgument(
            "backend",
            default_value="onnxruntime",
            description="model.backend: onnxruntime (CPU, the default) or torch",
        ),
        DeclareLaunchArgument(
            "device",
            default_value="cpu",
            description="model.device: cpu, cuda or cuda:N (cuda runs on the torch backend)",
        ),
        DeclareLaunchArgument("log_level", default_value="info", description="Node log level"),
        DeclareLaunchArgument(
            "rviz", default_value="false", description="Also start RViz with config/t2g.rviz"
        ),
    ]
    image_topic = LaunchConfiguration("image_topic")
    node = Node(
        package="t2g_ros",
        executable="t2g_node",
        name="t2g",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "use_sim_time": ParameterValue(
                    LaunchConfiguration("use_sim_time"), value_type=bool
                ),
                "input.compressed": ParameterValue(
                    LaunchConfiguration("compressed"), value_type=bool
                ),
                "model.backend": ParameterValue(LaunchConfiguration("backend"), value_type=str),
                "model.device": ParameterValue(LaunchConfiguration("device"), value_type=str),
            },
        ],
        remappings=[("image", image_topic), ("image/compressed", [image_topic, "/compressed"])],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "config", "t2g.rviz"])],
        parameters=[
            {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}
        ],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*args, node, rviz])
