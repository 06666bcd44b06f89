import CLibAV

/// The AVIOInterruptCB every input and output context gets: libav polls it during I/O (thousands of times a
/// second), so it is one atomic load on the job's `JobControl`. The owning wrapper keeps the control alive.
enum Interrupt {
    static func callback(for control: JobControl) -> AVIOInterruptCB {
        AVIOInterruptCB(
            callback: { opaque in
                guard let opaque else { return 0 }
                return Unmanaged<JobControl>.fromOpaque(opaque).takeUnretainedValue().isCancelled ? 1 : 0
            },
            opaque: Unmanaged.passUnretained(control).toOpaque()
        )
    }
}
