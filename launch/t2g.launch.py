"""Launch the t2g segmentation node (and optionally RViz).

    ros2 launch t2g_ros t2g.launch.py image_topic:=/camera/image_raw compressed:=true rviz:=true
    ros2 launch t2g_ros t2g.launch.py namespace:=front   # reads /front/camera/image_raw

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
