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

    /// Runs `body`; a DataException, an IO failure or a refused permission becomes an Error, anything
    /// else propagates.
    let catch (file: string) (body: unit -> 'T) : Result<'T, DataError> =
        try
            Ok(body ())
        with
        | DataException e -> Error e
        | :? FileNotFoundException
        | :? DirectoryNotFoundException -> Error(make file None "file not found")
        | :? IOException
        | :? System.UnauthorizedAccessException as e -> Error(make file None e.Message)
