namespace Lnmn.Core.Data

open System.IO

/// A file that could not be written because its disk is full (ENOSPC): the file meant.
exception NoSpaceLeft of path: string

/// Writes that leave either the old file or the complete new one, never a half-written one.
module AtomicFile =
    /// Whether an IOException is a full disk: ENOSPC (28) from a write. (.NET's File.WriteAllText
    /// preallocates, and its failure to is a plain IOException: `writeAllText` streams instead.)
    let isDiskFull (e: IOException) = e.HResult = 28

    /// Runs `write`; a full disk is raised as `NoSpaceLeft path`, naming the file meant rather
    /// than a temporary one.
    let failingForSpace (path: string) (write: unit -> 'T) : 'T =
        try write ()
        with :? IOException as e when isDiskFull e -> raise (NoSpaceLeft path)

    let private temporaryName (path: string) =
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath path), $".{Path.GetFileName path}.{System.Guid.NewGuid():N}.tmp")

    /// Calls `write` on a temporary path next to `path`, then renames it into place.
    let write (path: string) (write: string -> unit) =
        let temporary = temporaryName path
        try
            failingForSpace path (fun () -> write temporary)
            File.Move(temporary, path, true)
        finally
            if File.Exists temporary then File.Delete temporary

    let writeAllText (path: string) (text: string) =
        write path (fun t ->
            use w = new StreamWriter(t)
            w.Write text)

    /// Builds a whole directory under a temporary sibling name, then renames it into place,
    /// replacing what was there.
    let writeDirectory (dir: string) (build: string -> unit) =
        let full = Path.GetFullPath dir
        let parent = Path.GetDirectoryName full
        Directory.CreateDirectory parent |> ignore
        let temporary = Path.Combine(parent, $".{Path.GetFileName full}.{System.Guid.NewGuid():N}.tmp")
        Directory.CreateDirectory temporary |> ignore
        try
            build temporary
            if Directory.Exists full then Directory.Delete(full, true)
            Directory.Move(temporary, full)
        finally
            if Directory.Exists temporary then Directory.Delete(temporary, true)
