"""``scalinglab demo``: the README's main job — a ladder trained, fitted, backtested and reported in one command."""
