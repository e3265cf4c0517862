"""The Django app a hastack stack runs: a front page and a health endpoint for the load balancer.

Keep in step with the tag of the stack's default image (app_image in
roles/launch_template/defaults/main.yml).
"""

__version__ = "0.1.0"
