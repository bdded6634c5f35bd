"""Running the gateway as a long-lived service under systemd or launchd.

The renderers (`systemd`, `launchd`) are pure: parameters in, file text out,
so what a unit says can be tested without a service manager. `files` is the
only part that writes, and it writes nothing but the unit and a manifest of
what it wrote, so `gateway service uninstall` can remove exactly that.
"""
