//! The broker: sans-IO core (log, replica, producer state, offsets, controller) and its madsim node shell.
