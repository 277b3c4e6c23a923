//! Scenario model and files, workloads, fault schedules, the named scenarios, swarm and the bug catalog.
