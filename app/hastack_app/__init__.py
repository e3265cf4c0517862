"""The Django app a hastack stack runs: a front page and a health endpoint for the load balancer.

Keep in step with the tag of the stack's default image (app_image in group_vars/all/app.yml).
"""

__version__ = "0.1.0"
