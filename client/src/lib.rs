//! Producer and consumer: sans-IO cores and madsim node shells; they record the history.
