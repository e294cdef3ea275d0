"""State probes: what a frame shows (the car on the road, its speed, the ball), read from pixels alone.

Probes read real and generated frames the same way, so a model and the real simulator can be compared on the
state a player or a driving engineer cares about, not only on pixel error.
"""
