using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Sandboxrun.Probe;

/// <summary>Socket probes. Connects are non-blocking with a poll deadline so a dropped SYN cannot hang a test.</summary>
internal static unsafe class NetCommands
{
    private const int ConnectTimeoutMs = 3000;
    private const int SunPathLength = 108;

    /// <summary>unix(7): an abstract address starts with a NUL byte and its length is exactly
    /// sizeof(sa_family_t) + 1 + name length (no trailing NUL).</summary>
    public static Outcome AbstractConnect(string name)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length > SunPathLength - 1)
        {
            throw new UsageException("abstract name longer than 107 bytes");
        }

        byte* address = stackalloc byte[2 + SunPathLength];
        new Span<byte>(address, 2 + SunPathLength).Clear();
        *(ushort*)address = Interop.Net.AF_UNIX;
        nameBytes.CopyTo(new Span<byte>(address + 3, nameBytes.Length));
        return Connect(Interop.Net.AF_UNIX, address, (uint)(3 + nameBytes.Length));
    }

    public static Outcome UnixConnect(string path)
    {
        byte[] pathBytes = Encoding.UTF8.GetBytes(path);
        if (pathBytes.Length > SunPathLength - 1)
        {
            throw new UsageException("socket path longer than 107 bytes");
        }

        byte* address = stackalloc byte[2 + SunPathLength];
        new Span<byte>(address, 2 + SunPathLength).Clear();
        *(ushort*)address = Interop.Net.AF_UNIX;
        pathBytes.CopyTo(new Span<byte>(address + 2, pathBytes.Length));
        return Connect(Interop.Net.AF_UNIX, address, (uint)(2 + pathBytes.Length + 1));
    }

    public static Outcome TcpConnect(string host, ushort port)
    {
        byte* address = stackalloc byte[(int)Interop.Net.SockaddrInSize];
        FillSockaddrIn(address, host, port);
        return Connect(Interop.Net.AF_INET, address, Interop.Net.SockaddrInSize);
    }

    /// <summary>Binds 127.0.0.1:PORT (0 = any free port) and listens; "ok PORT" names the bound port.</summary>
    public static Outcome TcpListen(ushort port)
    {
        int fd = Interop.Net.Socket(Interop.Net.AF_INET, Interop.Net.SOCK_STREAM | Interop.Net.SOCK_CLOEXEC, 0);
        if (fd == -1)
        {
            return Outcome.LastError("socket");
        }

        try
        {
            byte* address = stackalloc byte[(int)Interop.Net.SockaddrInSize];
            FillSockaddrIn(address, "127.0.0.1", port);
            if (Interop.Net.Bind(fd, address, Interop.Net.SockaddrInSize) == -1)
            {
                return Outcome.LastError("bind");
            }

            if (Interop.Net.Listen(fd, 16) == -1)
            {
                return Outcome.LastError("listen");
            }

            uint length = Interop.Net.SockaddrInSize;
            if (Interop.Net.GetSockName(fd, address, &length) == -1)
            {
                return Outcome.LastError("getsockname");
            }

            ushort bound = BinaryPrimitives.ReadUInt16BigEndian(new ReadOnlySpan<byte>(address + 2, 2));
            return Outcome.Ok(bound.ToString(CultureInfo.InvariantCulture));
        }
        finally
        {
            Interop.Fs.Close(fd);
        }
    }

    /// <summary>struct sockaddr_in: family (host order), port and address (network order), 8 bytes zero.</summary>
    private static void FillSockaddrIn(byte* address, string host, ushort port)
    {
        new Span<byte>(address, (int)Interop.Net.SockaddrInSize).Clear();
        *(ushort*)address = Interop.Net.AF_INET;
        BinaryPrimitives.WriteUInt16BigEndian(new Span<byte>(address + 2, 2), port);
        if (Interop.Net.InetPton(Interop.Net.AF_INET, host, address + 4) != 1)
        {
            throw new UsageException($"'{host}' is not an IPv4 address");
        }
    }

    /// <summary>connect(2): EINPROGRESS on a non-blocking socket means wait for POLLOUT, then read
    /// SO_ERROR. EINTR leaves the connect running in the background, so it is handled the same way.</summary>
    private static Outcome Connect(int family, byte* address, uint length)
    {
        int fd = Interop.Net.Socket(family, Interop.Net.SOCK_STREAM | Interop.Net.SOCK_NONBLOCK | Interop.Net.SOCK_CLOEXEC, 0);
        if (fd == -1)
        {
            return Outcome.LastError("socket");
        }

        try
        {
            if (Interop.Net.Connect(fd, address, length) == 0)
            {
                return Outcome.Ok();
            }

            Errno errno = Interop.LastErrno;
            if (errno is not (Errno.EINPROGRESS or Errno.EINTR))
            {
                return Outcome.Fail(errno, "connect");
            }

            long deadline = Environment.TickCount64 + ConnectTimeoutMs;
            var poll = new Interop.Net.PollFd { Fd = fd, Events = Interop.Net.POLLOUT };
            while (true)
            {
                int remaining = (int)Math.Max(0, deadline - Environment.TickCount64);
                int ready = Interop.Net.Poll(&poll, 1, remaining);
                if (ready == -1 && Interop.LastErrno == Errno.EINTR)
                {
                    continue;
                }

                if (ready == -1)
                {
                    return Outcome.LastError("poll");
                }

                if (ready == 0)
                {
                    return Outcome.Fail(Errno.ETIMEDOUT, "connect");
                }

                break;
            }

            int error = 0;
            uint size = sizeof(int);
            if (Interop.Net.GetSockOpt(fd, Interop.Net.SOL_SOCKET, Interop.Net.SO_ERROR, &error, &size) == -1)
            {
                return Outcome.LastError("getsockopt");
            }

            return error == 0 ? Outcome.Ok() : Outcome.Fail((Errno)error, "connect");
        }
        finally
        {
            Interop.Fs.Close(fd);
        }
    }
}
