package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/guard"
	"github.com/verify-proxy/verify-proxy/internal/phone"
)

// country is a destination of the simulated users: its share of the day's legitimate starts, how
// often they are verified, and the ranges its users' numbers fall in.
type country struct {
	region     string
	code       int
	national   int // digits after the country code
	share      float64
	conversion float64
	prefixes   []string // E.164 digits without the last 4
}

// legitPerDay is the day's legitimate starts, before any campaign.
const legitPerDay = 24_000

// prefixesPerCountry is how many ranges of 10,000 numbers a country's users are spread over.
const prefixesPerCountry = 3_000

// newCountries are the destinations of the legitimate traffic: conversion between 60 and 85%, as
// industry figures for SMS verification go.
func newCountries(rng *rand.Rand) []*country {
	cs := []*country{
		{region: "US", code: 1, national: 10, share: 0.30, conversion: 0.80},
		{region: "GB", code: 44, national: 10, share: 0.10, conversion: 0.78},
		{region: "DE", code: 49, national: 11, share: 0.08, conversion: 0.82},
		{region: "FR", code: 33, national: 9, share: 0.07, conversion: 0.75},
		{region: "IN", code: 91, national: 10, share: 0.12, conversion: 0.65},
		{region: "BR", code: 55, national: 11, share: 0.08, conversion: 0.70},
		{region: "MX", code: 52, national: 10, share: 0.08, conversion: 0.72},
		{region: "ID", code: 62, national: 11, share: 0.06, conversion: 0.62},
		{region: "NG", code: 234, national: 10, share: 0.06, conversion: 0.60},
		{region: "PK", code: 92, national: 10, share: 0.05, conversion: 0.63},
	}
	for _, c := range cs {
		c.prefixes = make([]string, prefixesPerCountry)
		for i := range c.prefixes {
			c.prefixes[i] = c.randomPrefix(rng, "")
		}
	}
	return cs
}

// randomPrefix is a range of c's numbers starting with lead.
func (c *country) randomPrefix(rng *rand.Rand, lead string) string {
	p := strconv.Itoa(c.code) + lead
	for len(p) < len(strconv.Itoa(c.code))+c.national-4 {
		p += strconv.Itoa(rng.IntN(10))
	}
	return p
}

// number is a mobile number of c in prefix.
func (c *country) number(rng *rand.Rand, prefix string) phone.Number {
	return phone.Number{E164: prefix + fmt.Sprintf("%04d", rng.IntN(10_000)), Region: c.region, CountryCode: c.code,
		Type: phone.TypeMobile}
}

func byRegion(cs []*country, region string) *country {
	i := slices.IndexFunc(cs, func(c *country) bool { return c.region == region })
	return cs[i]
}

// scenario is one simulated day.
type scenario struct {
	name string
	// target is the share of pumping starts the guard must refuse; 0 for a day without pumping.
	target float64
	// country or prefix of the pumping, to tell the legitimate users inside it from those outside.
	attackedCountry, attackedPrefix string
	// traffic draws the day's attempts.
	traffic func(rng *rand.Rand, start time.Time) []timed
}

func (sc scenario) attacked(a *attempt) bool {
	switch {
	case sc.attackedPrefix != "":
		return guard.PrefixOf(a.num.E164) == sc.attackedPrefix
	case sc.attackedCountry != "":
		return a.country.region == sc.attackedCountry
	}
	return false
}

// diurnal is the legitimate traffic's rate at hour h, relative to the day's mean: low at night,
// high in the afternoon.
func diurnal(h float64) float64 { return 1 + 0.6*math.Sin(2*math.Pi*(h-9)/24) }

// legitTraffic draws the day's legitimate attempts: half from numbers verified here before, half
// from new ones; each verified, failed, cancelled or abandoned as its country's users do. spike, when
// set, multiplies one country's traffic at some hours.
func legitTraffic(rng *rand.Rand, start time.Time, cs []*country, spike func(c *country, h float64) float64) []timed {
	var out []timed
	for _, c := range cs {
		perHour := func(h float64) float64 {
			r := legitPerDay / 24 * c.share * diurnal(h)
			if spike != nil {
				r *= spike(c, h)
			}
			return r
		}
		for _, at := range arrivals(rng, start, perHour) {
			a := &attempt{country: c, returning: rng.Float64() < 0.5, ip: legitIP(rng)}
			a.num = c.number(rng, c.prefixes[rng.IntN(len(c.prefixes))])
			switch r := rng.Float64(); {
			case r < c.conversion:
				a.outcome, a.after = enter, time.Duration(15+rng.IntN(225))*time.Second
			case r < c.conversion+(1-c.conversion)*0.25:
				a.outcome, a.after = fail, time.Duration(60+rng.IntN(120))*time.Second
			case r < c.conversion+(1-c.conversion)*0.40:
				a.outcome, a.after = cancel, time.Duration(30+rng.IntN(90))*time.Second
			default:
				a.outcome = abandon
			}
			out = append(out, timed{at, a})
		}
	}
	return out
}

// pumping draws attempts nobody verifies, at perHour, to numbers of c in prefixes, from size
// addresses.
func pumping(rng *rand.Rand, start time.Time, c *country, prefixes []string, size int, perHour func(h float64) float64) []timed {
	var out []timed
	for _, at := range arrivals(rng, start, perHour) {
		a := &attempt{attack: true, country: c, ip: botIP(rng, size), outcome: abandon}
		a.num = c.number(rng, prefixes[rng.IntN(len(prefixes))])
		out = append(out, timed{at, a})
	}
	return out
}

// scenarios are the four days the fraud guard is proven on.
func scenarios(seed uint64) []scenario {
	countries := func() []*country { return newCountries(rand.New(rand.NewPCG(seed, 1))) }
	// The pumped ranges: premium ranges an operator pays for, apart from the users' own.
	pumpedGB := byRegion(countries(), "GB").randomPrefix(rand.New(rand.NewPCG(seed, 2)), "7")
	return []scenario{
		{
			name: "1. legitimate only, with a tenfold campaign in BR",
			traffic: func(rng *rand.Rand, start time.Time) []timed {
				return legitTraffic(rng, start, countries(), func(c *country, h float64) float64 {
					if c.region == "BR" && h >= 12 && h < 15 {
						return 10
					}
					return 1
				})
			},
		},
		{
			name: "2. concentrated pumping: one GB range, 3,000/h from 600 addresses", target: 0.95, attackedPrefix: pumpedGB,
			traffic: func(rng *rand.Rand, start time.Time) []timed {
				cs := countries()
				return append(legitTraffic(rng, start, cs, nil),
					pumping(rng, start, byRegion(cs, "GB"), []string{pumpedGB}, 600, func(float64) float64 { return 3000 })...)
			},
		},
		{
			name: "3. spread pumping: 300 NG ranges, 20 a day each", target: 0.90, attackedCountry: "NG",
			traffic: func(rng *rand.Rand, start time.Time) []timed {
				cs := countries()
				ng := byRegion(cs, "NG")
				prng := rand.New(rand.NewPCG(seed, 3))
				pumped := make([]string, 300)
				for i := range pumped {
					pumped[i] = ng.randomPrefix(prng, "9")
				}
				return append(legitTraffic(rng, start, cs, nil),
					pumping(rng, start, ng, pumped, 2000, func(float64) float64 { return 300 * 20 / 24.0 })...)
			},
		},
		{
			name: "4. low and slow: one PK range, 29/h all day", target: 0.80, attackedCountry: "PK",
			traffic: func(rng *rand.Rand, start time.Time) []timed {
				cs := countries()
				pk := byRegion(cs, "PK")
				pumped := pk.randomPrefix(rand.New(rand.NewPCG(seed, 4)), "3")
				out := legitTraffic(rng, start, cs, nil)
				// Evenly spaced, just under 30 an hour: never over RATE_LIMIT_PREFIX's default.
				every := time.Hour / 29
				for at := start.Add(every / 2); at.Before(start.Add(day)); at = at.Add(every) {
					a := &attempt{attack: true, country: pk, ip: botIP(rng, 500), outcome: abandon, num: pk.number(rng, pumped)}
					out = append(out, timed{at, a})
				}
				return out
			},
		},
	}
}

// result is one scenario with the fraud guard and with the static limits alone.
type result struct {
	scenario scenario
	guard    figures
	static   figures
}

// simulateAll runs every scenario twice: with the configuration as given, and with the fraud guard
// and the per-prefix limit off (the static limits of before).
func simulateAll(ctx context.Context, lookup func(string) (string, bool), seed uint64) ([]result, error) {
	withDefaults := func(over map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			if v, ok := over[k]; ok {
				return v, true
			}
			if v, ok := lookup(k); ok {
				return v, true
			}
			if k == "VERIFY_BACKEND" { // no Vonage account is needed to simulate
				return "sandbox", true
			}
			return "", false
		}
	}
	cfg, err := config.Load(withDefaults(nil))
	if err != nil {
		return nil, err
	}
	static, err := config.Load(withDefaults(map[string]string{"FRAUD_GUARD": "off", "RATE_LIMIT_PREFIX": "off"}))
	if err != nil {
		return nil, err
	}
	var out []result
	for _, sc := range scenarios(seed) {
		g, err := simulate(ctx, cfg, sc, seed)
		if err != nil {
			return nil, err
		}
		s, err := simulate(ctx, static, sc, seed)
		if err != nil {
			return nil, err
		}
		out = append(out, result{scenario: sc, guard: g, static: s})
	}
	return out, nil
}
