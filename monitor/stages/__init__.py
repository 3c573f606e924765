"""Pure stages: functions over immutable records; no I/O, no clock, picklable inputs and outputs."""
