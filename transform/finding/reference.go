package finding

// Staff-record cross-checks (R): a plan against the trust's ESR staff
// extract (transform/reference). Each severity can be changed in the staff
// extract's configuration (checks.severity, e.g. {R6: off}).
func init() {
	add("R1", Error, "Assignment number not in the staff record", "Check the assignment number against the doctor's payslip or ESR; the plan cannot be loaded against an assignment ESR does not have.")
	add("R2", Error, "Assignment not active in the staff record", "The assignment has ended or is not active in ESR; check whether the plan belongs to the doctor's current assignment.")
	add("R3", Error, "Assignment belongs to a different employee", "The assignment number belongs to someone else in ESR; correct the employee or assignment number in the job-planning system.")
	add("R4", Error, "Staff record's staff group is not Medical and Dental", "ESR does not hold this assignment as Medical and Dental; check the assignment number, or ask the ESR team to correct the staff group.")
	add("R5", Error, "Name does not match the staff record", "The plan names a different person from the one ESR holds for this assignment; check the assignment number and the doctor's name.")
	add("R6", Warning, "Name nearly matches the staff record", "The name is close to ESR's but not the same (a spelling, or surname and forenames the other way round); correct it in whichever system is wrong.")
}
