package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

func ledgerCommand() *cli.Command {
	return &cli.Command{
		Name:  "ledger",
		Usage: "work with the hub's ledger (its state database)",
		Subcommands: []*cli.Command{{
			Name:      "backup",
			Usage:     "write a consistent copy of the ledger to FILE, while the hub runs",
			ArgsUsage: "FILE",
			Description: `Copies ledger.db of the state folder with SQLite's VACUUM INTO: the copy
holds every change committed before it began and none after, the hub goes
on writing meanwhile, and the copy is checked (integrity_check), flushed
and renamed into place: FILE is either the old file or a whole new copy.
To restore, stop the hub and put the copy in the state folder as
ledger.db (removing ledger.db-wal and ledger.db-shm). Exit status 2 if the
copy could not be made.`,
			Flags: append([]cli.Flag{
				&cli.BoolFlag{Name: "force", Usage: "replace FILE if it exists"},
			}, stateFlags...),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usageError("give the backup FILE to write")
				}
				dst := c.Args().First()
				dir, err := stateDir(c)
				if err != nil {
					return usageError(err.Error())
				}
				if st, err := os.Stat(dst); err == nil {
					switch {
					case st.IsDir():
						return usageError(fmt.Sprintf("%s is a folder; give the backup's file name, such as %s", dst, filepath.Join(dst, "ledger-backup.db")))
					case !c.Bool("force"):
						return usageError(dst + " exists; use --force to replace it")
					}
				}
				res, err := ledger.Backup(c.Context, dir, dst)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s: ledger of %s at schema version %d: %d files, %d deliveries, %d bytes\n",
					res.Path, dir, res.SchemaVersion, res.Files, res.Deliveries, res.Bytes)
				return nil
			},
		}},
	}
}
