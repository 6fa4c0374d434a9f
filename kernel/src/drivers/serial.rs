//! The COM1 serial port: console output and interrupt-driven input.
//!
//! Output goes straight to the UART under a spinlock. Input arrives on IRQ 4:
//! the handler moves bytes from the UART's 16-byte FIFO into a larger ring
//! that the shell drains. When the ring is full the handler switches the
//! receive interrupt off instead of dropping bytes; the unread bytes then wait
//! in the UART (and, under QEMU, in the host pipe) until the reader catches up.
//!
//! Ctrl-C (byte 0x03) typed while a shell command runs does not go to the
//! ring: it sets a flag that long-running commands poll (`take_interrupt`)
//! to stop early and clean up, as a terminal's SIGINT would. At the prompt
//! it goes to the line editor like any other key.
//!
//! COM2 (`view=on` only) carries no console: the shell writes one line of
//! machine-readable memory state there after every command, for the live
//! view on the host (docs/visual.md). Output only, no interrupts.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{spec::registers::IER, Config, Uart16550};
use x86_64::instructions::interrupts;

const COM1: u16 = 0x3f8;
const COM2: u16 = 0x2f8;
const RING_SIZE: usize = 1024;

static UART: Mutex<Option<Uart16550<PioBackend>>> = Mutex::new(None);
static INPUT: Mutex<Ring> = Mutex::new(Ring::new());
/// COM2, once `init_view_port` has set it up.
static VIEW: Mutex<Option<Uart16550<PioBackend>>> = Mutex::new(None);
/// A shell command is running: Ctrl-C interrupts it instead of being input.
static COMMAND_RUNNING: AtomicBool = AtomicBool::new(false);
/// Ctrl-C arrived while a command ran, and nobody has acted on it yet.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The shell says whether a command runs now (and forgets an old Ctrl-C).
pub fn set_command_running(running: bool) {
    INTERRUPTED.store(false, Ordering::Relaxed);
    COMMAND_RUNNING.store(running, Ordering::Relaxed);
}

/// True once if Ctrl-C was typed since the command started: the command
/// should stop, give back what it holds, and say it was interrupted.
pub fn take_interrupt() -> bool {
    INTERRUPTED.swap(false, Ordering::Relaxed)
}

/// Initialises COM1 (115200 8N1, FIFO on, receive interrupt on).
///
/// This resets the UART's FIFO: anything sent before this point is lost,
/// which is why the host side waits for the first prompt before typing.
pub fn init() {
    // SAFETY: COM1 at 0x3f8 is the standard PC serial port; this driver is
    // its only user.
    let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1) }) else { return };
    let config =
        Config { baud_rate: uart_16550::BaudRate::Baud115200, interrupts: IER::DATA_READY, ..Config::default() };
    if uart.init(config).is_ok() {
        *UART.lock() = Some(uart);
    }
}

/// Initialises COM2 (115200 8N1, no interrupts) for the view line; true
/// if the UART answered.
pub fn init_view_port() -> bool {
    // SAFETY: COM2 at 0x2f8 is the standard second PC serial port; only
    // this driver touches it, and only when `view=on`.
    let Ok(mut uart) = (unsafe { Uart16550::new_port(COM2) }) else { return false };
    let config = Config { baud_rate: uart_16550::BaudRate::Baud115200, interrupts: IER::empty(), ..Config::default() };
    let ok = uart.init(config).is_ok();
    if ok {
        *VIEW.lock() = Some(uart);
    }
    ok
}

/// True if COM2 carries the view line (`view=on`).
pub fn view_port_on() -> bool {
    VIEW.lock().is_some()
}

/// Writes raw bytes to COM2, if it is on; nothing otherwise.
pub fn write_view_bytes(bytes: &[u8]) {
    interrupts::without_interrupts(|| {
        if let Some(uart) = VIEW.lock().as_mut() {
            uart.send_bytes_exact(bytes);
        }
    });
}

/// Writes a string to the console, `\n` as `\r\n` (for callers that
/// stream text through their own buffer).
pub fn write_str(s: &str) {
    _print(format_args!("{s}"));
}

/// Writes raw bytes, with no newline translation.
pub fn write_bytes(bytes: &[u8]) {
    interrupts::without_interrupts(|| {
        if let Some(uart) = UART.lock().as_mut() {
            uart.send_bytes_exact(bytes);
        }
    });
}

/// A `fmt::Write` sink that turns `\n` into `\r\n`, as a terminal expects.
struct Console<'a>(&'a mut Uart16550<PioBackend>);

impl Write for Console<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                self.0.send_bytes_exact(b"\r\n");
            }
            self.0.send_bytes_exact(line.as_bytes());
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    interrupts::without_interrupts(|| {
        if let Some(uart) = UART.lock().as_mut() {
            let _ = Console(uart).write_fmt(args);
        }
    });
}

/// Prints on the console in a dying kernel: takes the port even if the code
/// that crashed was holding its lock.
pub fn emergency_print(args: fmt::Arguments) {
    // SAFETY: called only on the way to a halt, with interrupts off; whoever
    // held the lock will never run again.
    unsafe { UART.force_unlock() };
    _print(args);
}

/// Called from the IRQ 4 handler: drains the UART's FIFO into the ring.
pub fn on_interrupt() {
    let mut uart = UART.lock();
    let Some(uart) = uart.as_mut() else { return };
    let mut ring = INPUT.lock();
    while !ring.is_full() {
        match uart.try_receive_byte() {
            Ok(0x03) if COMMAND_RUNNING.load(Ordering::Relaxed) => INTERRUPTED.store(true, Ordering::Relaxed),
            Ok(byte) => ring.push(byte),
            Err(_) => return,
        }
    }
    // Full: stop listening until `read_byte` has made room (back-pressure).
    uart.disable_interrupts(IER::DATA_READY);
    ring.throttled = true;
}

/// Returns the next input byte, sleeping until one arrives.
pub fn read_byte() -> u8 {
    loop {
        interrupts::disable();
        if let Some(byte) = take_byte() {
            interrupts::enable();
            return byte;
        }
        // `sti; hlt` is atomic: an interrupt cannot slip in between the
        // check above and the halt and leave us asleep with input waiting.
        interrupts::enable_and_hlt();
    }
}

/// Takes a byte from the ring, if any. Interrupts must be off.
fn take_byte() -> Option<u8> {
    let (byte, resume) = {
        let mut ring = INPUT.lock();
        let byte = ring.pop()?;
        let resume = ring.throttled && ring.len < RING_SIZE / 2;
        ring.throttled &= !resume;
        (byte, resume)
    };
    if resume {
        if let Some(uart) = UART.lock().as_mut() {
            uart.enable_interrupts(IER::DATA_READY);
        }
    }
    Some(byte)
}

/// A fixed-size FIFO of input bytes.
struct Ring {
    buf: [u8; RING_SIZE],
    head: usize,
    len: usize,
    throttled: bool,
}

impl Ring {
    const fn new() -> Self {
        Ring { buf: [0; RING_SIZE], head: 0, len: 0, throttled: false }
    }
    fn is_full(&self) -> bool {
        self.len == RING_SIZE
    }
    fn push(&mut self, byte: u8) {
        self.buf[(self.head + self.len) % RING_SIZE] = byte;
        self.len += 1;
    }
    fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let byte = self.buf[self.head];
        self.head = (self.head + 1) % RING_SIZE;
        self.len -= 1;
        Some(byte)
    }
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::drivers::serial::_print(format_args!($($arg)*)));
}

/// Prints to the serial console, with a newline.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::print!("{}\n", format_args!($($arg)*)));
}
