package redisstore

import (
	"strconv"
	"strings"
	"sync"
)

// slotCount is the number of hash slots of a Redis Cluster.
const slotCount = 16384

// slot is the hash slot of key, as Redis Cluster computes it: CRC16 (XMODEM) of the key, or of its
// hash tag (the text between the first '{' and the next '}', when that is not empty).
func slot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % slotCount
}

// slotTags are, for each slot, a short hash tag that falls in it: Ping writes one key to each master
// of a cluster, on a slot that master serves.
var slotTags = sync.OnceValue(func() []string {
	tags := make([]string, slotCount)
	for left, i := slotCount, 0; left > 0; i++ {
		tag := strconv.Itoa(i)
		if s := slot(tag); tags[s] == "" {
			tags[s] = tag
			left--
		}
	}
	return tags
})

// tagOfSlot is a hash tag whose keys fall in slot s.
func tagOfSlot(s int) string { return slotTags()[s%slotCount] }
