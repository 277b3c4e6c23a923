//! The history model (HISTORY.md) and the checkers; depends on nothing of the simulation.
