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

    /// Where a file or folder is built before it is renamed into place: beside it, so the rename
    /// stays on one file system, and under one name, so a write killed half-way leaves one stale
    /// file that the next write of the same path replaces.
    let partialPath (path: string) = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar) + ".partial"

    /// Calls `write` on `partialPath path`, runs `beforeReplace` (the old file, if any, still in
    /// place), then renames the new one over `path`. A failed write leaves no partial file.
    let writeReplacing (path: string) (beforeReplace: unit -> unit) (write: string -> unit) =
        let temporary = partialPath path
        try
            failingForSpace path (fun () -> write temporary)
            beforeReplace ()
            File.Move(temporary, path, true)
        finally
            if File.Exists temporary then File.Delete temporary

    /// Calls `write` on a temporary path next to `path`, then renames it into place.
    let write (path: string) (write: string -> unit) = writeReplacing path ignore write

    let writeAllText (path: string) (text: string) =
        write path (fun t ->
            use w = new StreamWriter(t)
            w.Write text)

    /// Builds a whole directory in a partial folder beside it, then renames it into place,
    /// replacing what was there, when `build` returns Ok. An Error or an exception leaves nothing
    /// behind. The partial folder's name is unique: two processes may build the same folder at once
    /// (two runs generating the built-in dataset), and the last rename wins with a whole one.
    let writeDirectory (dir: string) (build: string -> Result<'T, 'E>) : Result<'T, 'E> =
        let full = Path.GetFullPath dir
        Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore
        let temporary = $"{partialPath full}-{System.Guid.NewGuid():N}"
        Directory.CreateDirectory temporary |> ignore
        try
            let built = build temporary
            if Result.isOk built then
                if Directory.Exists full then Directory.Delete(full, true)
                Directory.Move(temporary, full)
            built
        finally
            if Directory.Exists temporary then Directory.Delete(temporary, true)
