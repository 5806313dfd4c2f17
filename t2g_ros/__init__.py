"""t2g ROS 2 adapter: the rclpy node plus rclpy-free message conversion and bag tools.

Kept free of imports so that offline tools can use ``t2g_ros.image_codec`` and ``t2g_ros.bag_io``
where rclpy is not installed.
"""
