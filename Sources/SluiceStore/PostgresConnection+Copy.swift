import CLibPQ

extension PostgresConnection {
    /// Runs `copySQL` (a `COPY ... FROM STDIN` statement) and streams the data `body` writes.
    ///
    /// Returns the number of rows copied. If `body` throws, the COPY is aborted so no rows land and
    /// the original error is rethrown; the connection stays usable. A server error (such as a unique
    /// violation) stops the COPY at the next chunk instead of after all data was sent.
    public func copyIn(_ copySQL: String, _ body: (PostgresCopyWriter) throws -> Void) throws -> Int {
        let handle = try requireHandle(sql: copySQL)
        guard let start = PQexec(handle, copySQL) else {
            throw failure(makeConnectionError(code: .copyFailed, sql: copySQL), report: true)
        }
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            // An error result (e.g. unknown table) or a statement that is not COPY FROM STDIN.
            defer { PQclear(start) }
            var error = Self.makeError(result: start, code: .copyFailed, sql: copySQL)
            if PQresultStatus(start) != PGRES_FATAL_ERROR {
                error.message = "statement did not start COPY FROM STDIN"
            }
            drainResults(handle)
            throw failure(error, report: true)
        }
        PQclear(start)

        let writer = PostgresCopyWriter(handle: handle)
        var interrupted = false
        do {
            try body(writer)
            try writer.flush()
        } catch is PostgresCopyWriter.ServerInterrupted {
            // Ending the COPY collects the server's error below.
            interrupted = true
        } catch {
            let reason = "aborted by client: \(error)"
            _ = PQputCopyEnd(handle, String(reason.prefix(200)))
            drainResults(handle)
            throw error
        }

        guard PQputCopyEnd(handle, nil) == 1 else {
            let error = makeConnectionError(code: .copyFailed, sql: copySQL)
            drainResults(handle)
            throw failure(error, report: true)
        }
        var firstError: PostgresError?
        var copied = 0
        while let result = PQgetResult(handle) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
            } else if firstError == nil {
                firstError = Self.makeError(result: result, code: .copyFailed, sql: copySQL)
            }
            PQclear(result)
        }
        if let firstError { throw failure(firstError, report: true) }
        if interrupted {
            // Only a notice can end up here: the data after it was never sent, so the caller must roll back.
            throw failure(PostgresError(code: .copyInterrupted, message: "the server sent a message during COPY; data after it was not sent",
                                        sql: copySQL), report: true)
        }
        return copied
    }

    /// Reads and discards results until libpq reports none are left.
    private func drainResults(_ handle: OpaquePointer) {
        while let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            PQclear(result)
            // A COPY state would repeat forever: only reachable for statements that are not COPY FROM STDIN.
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH { break }
        }
    }
}
