/// Reads and edits the version requirements (`.gnu.version_r`) of a 64-bit little-endian ELF
/// shared library. Used to mark libLibTorchSharp.so's need for GLIBCXX_3.4.32 weak on systems
/// whose libstdc++ predates GCC 13 (Debian 12): the loader then accepts the library, and the one
/// symbol behind that version has no relocation, so nothing ever binds to it.
module ElfVersionNeeds

open System
open System.IO
open System.Text

/// One `Vernaux` entry: a version that the library needs from `File`.
type VersionNeed = { File: string; Version: string; Flags: uint16; FlagsOffset: int }

let private weakFlag = 2us
let private shtGnuVerneed = 0x6ffffffeu

let private u16 (b: byte[]) (o: int) = BitConverter.ToUInt16(b, o)
let private u32 (b: byte[]) (o: int) = BitConverter.ToUInt32(b, o)
let private u64 (b: byte[]) (o: int) = int (BitConverter.ToUInt64(b, o))

let private cString (b: byte[]) (o: int) =
    let e = Array.IndexOf(b, 0uy, o)
    Encoding.ASCII.GetString(b, o, e - o)

/// Every version requirement in the file, in section order.
let versionNeeds (elf: byte[]) : VersionNeed list =
    if elf.Length < 64 || elf.[0] <> 0x7fuy || elf.[1] <> byte 'E' || elf.[4] <> 2uy || elf.[5] <> 1uy then
        failwith "not a 64-bit little-endian ELF file"
    let shoff, shentsize, shnum = u64 elf 0x28, int (u16 elf 0x3A), int (u16 elf 0x3C)
    let section i = shoff + i * shentsize
    [ for i in 0 .. shnum - 1 do
        let s = section i
        if u32 elf (s + 4) = shtGnuVerneed then
            let strtab = u64 elf (section (int (u32 elf (s + 0x28))) + 0x18)
            let mutable need = u64 elf (s + 0x18)
            for _ in 1 .. int (u32 elf (s + 0x2C)) do
                let file = cString elf (strtab + int (u32 elf (need + 4)))
                let mutable aux = need + int (u32 elf (need + 8))
                for _ in 1 .. int (u16 elf (need + 2)) do
                    yield { File = file
                            Version = cString elf (strtab + int (u32 elf (aux + 8)))
                            Flags = u16 elf (aux + 4)
                            FlagsOffset = aux + 4 }
                    aux <- aux + int (u32 elf (aux + 12))
                need <- need + int (u32 elf (need + 12)) ]

let isWeak (need: VersionNeed) = need.Flags &&& weakFlag <> 0us

/// A copy of the file with the named version requirement marked weak; the input is untouched.
let markWeak (version: string) (elf: byte[]) : byte[] =
    let out = Array.copy elf
    for need in versionNeeds elf |> List.filter (fun n -> n.Version = version) do
        BitConverter.GetBytes(need.Flags ||| weakFlag).CopyTo(out, need.FlagsOffset)
    out

/// Does a file's content define the version string (as libstdc++ defines `GLIBCXX_3.4.32`)?
let definesVersion (version: string) (library: byte[]) =
    let pattern = Encoding.ASCII.GetBytes(version + "\000")
    library.AsSpan().IndexOf(ReadOnlySpan pattern) >= 0

let private libstdcxxCandidates =
    [ "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"; "/lib/x86_64-linux-gnu/libstdc++.so.6"
      "/usr/lib64/libstdc++.so.6"; "/usr/lib/aarch64-linux-gnu/libstdc++.so.6"; "/usr/lib/libstdc++.so.6" ]

/// The system libstdc++, if one is found where Linux distributions put it.
let systemLibstdcxx () = libstdcxxCandidates |> List.tryFind File.Exists

/// Writes `destination`: a copy of `source` with `version` marked weak when the system libstdc++
/// lacks it, else a plain copy. Written to a temporary name and renamed. Returns what was done,
/// for the build log.
let weakenedCopy (version: string) (source: string) (destination: string) : string =
    let elf = File.ReadAllBytes source
    let lacking =
        match systemLibstdcxx () with
        | Some lib when definesVersion version (File.ReadAllBytes lib) -> None
        | lib -> Some(defaultArg lib "no system libstdc++ found")
    let bytes, what =
        match lacking with
        | None -> elf, $"system libstdc++ has {version}: plain copy"
        | Some _ when versionNeeds elf |> List.forall (fun n -> n.Version <> version) -> elf, $"does not need {version}: plain copy"
        | Some sys -> markWeak version elf, $"marked {version} weak ({sys} lacks it)"
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath destination)) |> ignore
    let temporary = destination + ".partial"
    File.WriteAllBytes(temporary, bytes)
    File.Move(temporary, destination, true)
    $"{destination}: {what}"
