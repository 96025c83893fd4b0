import numpy as np

from analysis.tcp import flags as F


def test_tcpdump_names_follow_tcpdumps_table():
    cases = {0x02: "S", 0x12: "S.", 0x10: ".", 0x18: "P.", 0x11: "F.", 0x19: "FP.", 0x04: "R", 0x14: "R.", 0x00: "none",
             0xC2: "SEW"}
    assert {v: F.tcpdump_name(v) for v in cases} == cases
    assert list(F.tcpdump_names(np.array(list(cases)))) == list(cases.values())


def test_packet_kind_most_significant_flag_first():
    flags = np.array([0x02, 0x12, 0x10, 0x18, 0x19, 0x14, 0x04, 0x11])
    length = np.array([0, 0, 0, 10, 26, 13, 0, 0])
    assert list(F.packet_kinds(flags, length)) == ["SYN", "SYN-ACK", "ACK", "DATA", "FIN", "RST", "RST", "FIN"]
