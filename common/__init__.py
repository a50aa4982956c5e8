"""Records, wire codec and formatting shared by the agent and the controller.

Runs on Python 3.9 with only the stdlib and msgpack: it is shipped into zones.
"""
