//! The `log` crate's backend: every record goes to the serial console as
//! `[seconds.millis] LEVEL: message`, like the kernel log in Linux's dmesg.

use crate::drivers::pit;
use log::{LevelFilter, Metadata, Record};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

impl log::Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            let ms = pit::uptime_ms();
            crate::println!("[{:5}.{:03}] {}: {}", ms / 1000, ms % 1000, record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger at level Info.
pub fn init() {
    // Fails only if a logger is already set, which cannot happen here.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}
