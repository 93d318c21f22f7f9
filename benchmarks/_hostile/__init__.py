"""
The parts of ``benchmarks/hostile.py``: each runs in its own process.

* :mod:`.wire`: just enough RFC 6455 and mesh handshake for attackers;
* :mod:`.connections`: what an attacking connection is made of;
* :mod:`.attacks`: the attack catalogue;
* :mod:`.attacker`: the attacker process, running one attack;
* :mod:`.legit`: the legitimate controller whose round trips are measured;
* :mod:`.children`: starting, watching and always killing child processes;
* :mod:`.figures`: turning samples into figures and checking the aims.
"""
