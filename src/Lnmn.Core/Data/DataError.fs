/// Errors a user's data can cause: one line naming the file and the question or row.
namespace Lnmn.Core.Data

open System.IO

type DataError =
    { File: string
      /// "question 17", "row 3", "object 2 of scene 5"; None when the whole file is at fault.
      Location: string option
      Message: string }

/// Raised inside streaming readers (a seq cannot return a Result per item); `DataError.catch`
/// turns it back into a value at the API boundary.
exception DataException of DataError

module DataError =
    let describe (e: DataError) =
        match e.Location with
        | Some at -> $"{e.File}: {at}: {e.Message}"
        | None -> $"{e.File}: {e.Message}"

    let make file location message = { File = file; Location = location; Message = message }

    let fail file location message : 'T = raise (DataException(make file location message))

    /// Runs `body`; a DataException or an IO failure becomes an Error, anything else propagates.
    let catch (file: string) (body: unit -> 'T) : Result<'T, DataError> =
        try
            Ok(body ())
        with
        | DataException e -> Error e
        | :? FileNotFoundException
        | :? DirectoryNotFoundException -> Error(make file None "file not found")
        | :? IOException as e -> Error(make file None e.Message)

/// Writes that leave either the old file or the complete new one, never a half-written one.
module AtomicFile =
    let private temporaryName (path: string) =
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath path), $".{Path.GetFileName path}.{System.Guid.NewGuid():N}.tmp")

    /// Calls `write` on a temporary path next to `path`, then renames it into place.
    let write (path: string) (write: string -> unit) =
        let temporary = temporaryName path
        try
            write temporary
            File.Move(temporary, path, true)
        finally
            if File.Exists temporary then File.Delete temporary

    let writeAllText (path: string) (text: string) = write path (fun t -> File.WriteAllText(t, text))

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
