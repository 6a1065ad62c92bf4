using System.Net.Sockets;
using Sandboxrun.Interop;

namespace Sandboxrun.Proxy;

/// <summary>
/// A CONNECT tunnel's bytes moved with splice(2): socket → pipe → socket inside the kernel, so
/// the supervisor never copies them through user space (a managed copy cost about half the
/// throughput of a direct transfer on a 2-core machine, bench/README.md). Each direction runs on
/// its own thread, blocked in splice; an end of input is passed on as a half-close, an error tears
/// both sockets down, and cancellation (idle timeout, revocation on reload, shutdown) shuts both
/// sockets down, which wakes the threads.
/// </summary>
internal static class SpliceRelay
{
    private const long Chunk = 1 << 20;

    /// <summary>Null when the sockets cannot be switched to blocking mode (the caller relays in managed code instead).</summary>
    public static Task? Start(Socket client, Socket upstream, CancellationToken token, Action<long> up, Action<long> down)
    {
        int c = (int)client.Handle;
        int u = (int)upstream.Handle;
        if (!Interop.Interop.Splice.MakeBlocking(c) || !Interop.Interop.Splice.MakeBlocking(u))
            return null;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int running = 2;
        CancellationTokenRegistration stop = token.Register(() => TearDown(c, u));
        void Finished()
        {
            if (Interlocked.Decrement(ref running) == 0)
            {
                stop.Dispose();
                done.TrySetResult();
            }
        }
        Start("tunnel up", () => Direction(c, u, up), Finished);
        Start("tunnel down", () => Direction(u, c, down), Finished);
        return done.Task;
    }

    private static void Start(string name, Action body, Action finished) =>
        new Thread(() =>
        {
            try
            {
                body();
            }
            finally
            {
                finished();
            }
        })
        { IsBackground = true, Name = name }.Start();

    private static void Direction(int from, int to, Action<long> progress)
    {
        (int r, int w) = Interop.Interop.Files.Pipe();
        Interop.Interop.Splice.GrowPipe(w, (int)Chunk);
        try
        {
            while (true)
            {
                long n = Interop.Interop.Splice.Move(from, w, Chunk);
                if (n == 0)
                {
                    Interop.Interop.Sockets.ShutdownWrite(to); // half-close passed on
                    return;
                }
                if (n < 0)
                {
                    TearDown(from, to);
                    return;
                }
                while (n > 0)
                {
                    long m = Interop.Interop.Splice.Move(r, to, n);
                    if (m <= 0)
                    {
                        TearDown(from, to);
                        return;
                    }
                    n -= m;
                    progress(m);
                }
            }
        }
        finally
        {
            Interop.Interop.Files.Close(r);
            Interop.Interop.Files.Close(w);
        }
    }

    private static void TearDown(int a, int b)
    {
        Interop.Interop.Sockets.ShutdownBoth(a);
        Interop.Interop.Sockets.ShutdownBoth(b);
    }
}
