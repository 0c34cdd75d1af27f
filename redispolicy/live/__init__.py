"""WHAT IS: connect, identify the server, snapshot CONFIG and INFO. Only here and apply/ talk to redis-py."""
