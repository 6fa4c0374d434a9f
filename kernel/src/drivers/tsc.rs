//! The time-stamp counter (TSC): a cheap, fine-grained clock for timing
//! code, such as the `test_vmalloc` benchmarks.
//!
//! `rdtsc` returns a 64-bit count of CPU cycles, but nothing tells the
//! kernel how many cycles make a second. So the first caller measures it
//! once, against a clock whose rate is known: the PIT's 1.193182 MHz input.
//!
//! The measurement uses PIT channel 2, the one wired to the PC speaker,
//! because channel 0 drives the timer interrupt and must keep running
//! undisturbed. Channel 2 has a gate that software controls through port
//! 0x61 (bit 0; bit 1 would switch the speaker on and stays clear), and
//! its output can be read back there (bit 5). Opened and loaded with 0xffff
//! in mode 0, it counts down for 55 ms and its output goes high at zero.
//!
//! The calibration reads the counter (latch command, then two bytes) at the
//! start and again some 40 ms later, each time between two TSC reads:
//! cycles between the readings divided by PIT ticks between them is the
//! rate. Under QEMU the virtual CPU is a host thread that the host may
//! preempt at any moment, and a preemption between a counter read and its
//! TSC reads would spoil the result (an early version that timed a count
//! from when it was loaded was off by a quarter on a busy host). So each
//! reading is taken several times and only the one with the fewest cycles
//! between its two TSC reads is kept: that one was not preempted, and its
//! midpoint is accurate to a few microseconds, 0.01% of the interval. This
//! is how Linux's `quick_pit_calibrate` bounds its error too. Interrupts may
//! stay on: an interrupt during a reading only makes it one to discard.
//!
//! If channel 2 does not count (no speaker port on some machine), the rate
//! is measured against the timer tick instead, more coarsely.
//!
//! Under QEMU with TCG the guest TSC follows the host's TSC and the PIT
//! follows the host's clock, so the result is the host's TSC rate.

use super::pit;
use core::arch::x86_64::_rdtsc;
use spin::Once;
use x86_64::instructions::interrupts;
use x86_64::instructions::port::Port;

/// The PIT's input clock, in Hz.
const PIT_HZ: u64 = 1_193_182;
/// PIT ticks to measure over: 40 ms, well inside the 55 ms count.
const CAL_TICKS: u64 = PIT_HZ * 40 / 1000;
/// Readings taken of each end; the cleanest one is kept.
const TRIES: usize = 8;
/// Whole calibrations tried before giving up on channel 2.
const ATTEMPTS: usize = 5;
/// Give up waiting for channel 2 after this many counter reads (each is
/// three I/O accesses of at least a few hundred nanoseconds: seconds).
const MAX_POLLS: u64 = 10_000_000;

/// Port 0x61: PC speaker / channel 2 control and status.
const SPEAKER_PORT: u16 = 0x61;
const GATE2: u8 = 0x01;
const SPEAKER_ON: u8 = 0x02;
const OUT2: u8 = 0x20;
/// PIT command port and channel 2's data port.
const PIT_COMMAND: u16 = 0x43;
const PIT_CHANNEL2: u16 = 0x42;
/// Channel 2, low byte then high byte, mode 0, binary. The bits are
/// grouped by the command's fields: channel, access, mode, BCD.
#[allow(clippy::unusual_byte_groupings, reason = "grouped by the PIT command's fields")]
const CHANNEL2_MODE0: u8 = 0b10_11_000_0;
/// Channel 2, latch the count (the next two reads return it).
#[allow(clippy::unusual_byte_groupings, reason = "grouped by the PIT command's fields")]
const CHANNEL2_LATCH: u8 = 0b10_00_000_0;

/// TSC ticks per millisecond, measured on first use.
static KHZ: Once<u64> = Once::new();

/// The current TSC value.
pub fn now() -> u64 {
    // SAFETY: rdtsc only reads the counter; every x86_64 CPU has it and
    // the kernel does not disable it for ring 0 (CR4.TSD only affects
    // ring 3).
    unsafe { _rdtsc() }
}

/// The TSC's rate in kHz (cycles per millisecond), calibrated on first use.
pub fn khz() -> u64 {
    *KHZ.call_once(calibrate)
}

/// Converts a number of TSC cycles to nanoseconds.
pub fn cycles_to_ns(cycles: u64) -> u64 {
    // cycles * 1e6 / kHz; in 128 bits so that hours of cycles cannot overflow.
    (cycles as u128 * 1_000_000 / khz() as u128) as u64
}

fn calibrate() -> u64 {
    for _ in 0..ATTEMPTS {
        if let Some(khz) = measure_channel2() {
            log::debug!("tsc: {}.{:03} MHz (against PIT channel 2)", khz / 1000, khz % 1000);
            return khz;
        }
    }
    let khz = calibrate_with_ticks();
    log::warn!("tsc: PIT channel 2 gave no usable reading; {khz} kHz measured against the timer tick");
    khz
}

/// One reading of channel 2's counter and the TSC on either side of it.
#[derive(Clone, Copy)]
struct Reading {
    before: u64,
    after: u64,
    count: u16,
}

impl Reading {
    /// Twice the TSC value at the moment of the reading (within half the
    /// spread either way); doubled to stay in integers.
    fn mid2(&self) -> u64 {
        self.before + self.after
    }

    fn spread(&self) -> u64 {
        self.after - self.before
    }
}

struct Channel2 {
    speaker: Port<u8>,
    command: Port<u8>,
    data: Port<u8>,
}

impl Channel2 {
    fn new() -> Self {
        Channel2 { speaker: Port::new(SPEAKER_PORT), command: Port::new(PIT_COMMAND), data: Port::new(PIT_CHANNEL2) }
    }

    /// Opens the gate (speaker off) and starts a count down from 0xffff.
    fn start(&mut self) {
        // SAFETY: ports 0x61, 0x42 and 0x43 belong to the PC speaker logic
        // and the PIT. The command byte selects channel 2 only, so channel
        // 0 and the timer interrupt are unaffected; bit 1 of port 0x61
        // stays clear, so the speaker stays silent.
        unsafe {
            let control = self.speaker.read();
            self.speaker.write((control & !SPEAKER_ON) | GATE2);
            self.command.write(CHANNEL2_MODE0);
            self.data.write(0xff);
            self.data.write(0xff);
        }
    }

    fn count(&mut self) -> u16 {
        // SAFETY: latching channel 2 and reading its two count bytes does
        // not disturb its counting (or any other channel).
        unsafe {
            self.command.write(CHANNEL2_LATCH);
            let low = self.data.read();
            let high = self.data.read();
            u16::from_le_bytes([low, high])
        }
    }

    /// True once the count has reached zero.
    fn expired(&mut self) -> bool {
        // SAFETY: reading port 0x61 has no side effects.
        unsafe { self.speaker.read() & OUT2 != 0 }
    }

    /// The cleanest of TRIES readings: the one with the fewest cycles
    /// between its TSC reads, i.e. not interrupted or preempted.
    fn reading(&mut self) -> Reading {
        let mut best: Option<Reading> = None;
        for _ in 0..TRIES {
            let before = now();
            let count = self.count();
            let r = Reading { before, after: now(), count };
            if best.is_none_or(|b| r.spread() < b.spread()) {
                best = Some(r);
            }
        }
        best.expect("TRIES > 0")
    }
}

/// One calibration against channel 2, or None if the channel does not
/// count or ran out before the end reading.
fn measure_channel2() -> Option<u64> {
    let mut ch = Channel2::new();
    ch.start();
    let first = ch.reading();
    let mut polls = 0;
    while u64::from(first.count.wrapping_sub(ch.count())) < CAL_TICKS {
        polls += 1;
        if polls > MAX_POLLS || ch.expired() {
            return None;
        }
    }
    let last = ch.reading();
    // The count must not have reached zero (and wrapped) on the way.
    if ch.expired() || last.count >= first.count {
        return None;
    }
    let ticks = u64::from(first.count - last.count);
    let cycles2 = last.mid2() - first.mid2();
    // cycles per tick * ticks per ms; cycles2 is doubled.
    Some((cycles2 as u128 * PIT_HZ as u128 / (2 * ticks as u128 * 1000)).max(1) as u64)
}

/// Fallback: cycles over 10 timer ticks (100 ms at HZ = 100). Needs the
/// timer interrupt, which is on in the shell and in tests.
fn calibrate_with_ticks() -> u64 {
    const TICKS: u64 = 10;
    if !interrupts::are_enabled() {
        // Waiting for ticks would hang; a guess beats a hang.
        log::error!("tsc: cannot calibrate with interrupts off; assuming 1 GHz");
        return 1_000_000;
    }
    let wait_edge = || {
        let t = pit::ticks();
        while pit::ticks() == t {
            core::hint::spin_loop();
        }
    };
    wait_edge();
    let (start, t0) = (now(), pit::ticks());
    while pit::ticks() < t0 + TICKS {
        core::hint::spin_loop();
    }
    let cycles = now() - start;
    (cycles * pit::HZ / (TICKS * 1000)).max(1)
}
