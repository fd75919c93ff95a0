import NIOCore

/// A Swift `TaskExecutor` that runs jobs on one NIO event loop.
///
/// The session handler starts the policy hooks (connection, sender, recipient, credentials) and
/// the delivery of small messages as tasks preferring the connection's own event loop: a hook
/// that answers without suspending then completes on the loop's thread, with no thread switch
/// at all, and one that awaits other work resumes on the loop directly. Code run this way must
/// not block (hooks hop to a thread pool for blocking work, as the relay's authenticator and
/// spool do).
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute {
            job.runSynchronously(on: executor)
        }
    }
}
