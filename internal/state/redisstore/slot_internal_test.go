package redisstore

import "testing"

// TestSlotIsRedisClusters: the slots Redis's own documentation gives for these keys.
func TestSlotIsRedisClusters(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]int{
		"123456789":            0x31c3 % slotCount, // CRC16/XMODEM's check value
		"foo":                  12182,
		"{user1000}.following": slot("user1000"),
		"foo{}{bar}":           slot("foo{}{bar}"), // an empty tag: the whole key
		"foo{{bar}}zap":        slot("{bar"),
	} {
		if got := slot(key); got != want {
			t.Errorf("slot(%q) = %d, want %d", key, got, want)
		}
	}
	for _, s := range []int{0, 1, 5460, 5461, 16383} {
		if got := slot("{" + tagOfSlot(s) + "}"); got != s {
			t.Errorf("tagOfSlot(%d) falls in slot %d", s, got)
		}
	}
}
