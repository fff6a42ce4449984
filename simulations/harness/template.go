package harness

import (
	"fmt"
	"os"
	"text/template"
)

// WriteTemplate executes t with data into the file at path (a generated
// config file for a reference server).
func WriteTemplate(path string, t *template.Template, data any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = t.Execute(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
