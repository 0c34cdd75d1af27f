"""THE DIFFERENCE: policy x snapshot -> Plan. Pure: testable with two literals and no server."""
