using System.Runtime.InteropServices;
using System.Text;

namespace Sandboxrun.Launch;

/// <summary>
/// Unmanaged memory for one launch: everything the clone child reads lives here, written
/// before clone and freed after the child has exec'd or failed (the child has its own copy).
/// </summary>
internal sealed unsafe class NativeArena : IDisposable
{
    private readonly List<nint> _blocks = [];

    public void* Alloc(nuint bytes)
    {
        void* p = NativeMemory.AllocZeroed(bytes == 0 ? 1 : bytes);
        _blocks.Add((nint)p);
        return p;
    }

    public T* Alloc<T>(int count) where T : unmanaged => (T*)Alloc((nuint)(sizeof(T) * Math.Max(count, 1)));

    /// <summary>A NUL-terminated UTF-8 copy; null stays null.</summary>
    public byte* Str(string? s)
    {
        if (s is null)
            return null;
        int n = Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)Alloc((nuint)n + 1);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        return p;
    }

    public byte* Bytes(ReadOnlySpan<byte> data)
    {
        byte* p = (byte*)Alloc((nuint)data.Length);
        data.CopyTo(new Span<byte>(p, data.Length));
        return p;
    }

    /// <summary>A NULL-terminated array of C strings.</summary>
    public byte** StrArray(IReadOnlyList<string> items)
    {
        byte** arr = (byte**)Alloc((nuint)(sizeof(byte*) * (items.Count + 1)));
        for (int i = 0; i < items.Count; i++)
            arr[i] = Str(items[i]);
        return arr;
    }

    public void Dispose()
    {
        foreach (nint p in _blocks)
            NativeMemory.Free((void*)p);
        _blocks.Clear();
    }
}
